// runner's entry point for a JavaScript transform: the component's exports, which call the
// `up` and `down` that `transform.js` exports. componentize-js builds this module; `info`
// says whether the transform has a `down`, from what `transform.js` exports.

import * as transform from './transform.js';
import { Db, SDK_VERSION, TransformError } from './runner_transform.js';

// What runner shows of an error that escaped the transform: its message and where it was
// thrown.
function text(failure) {
  if (failure instanceof TransformError) return failure.message;
  if (failure instanceof Error) return failure.stack ? `${failure}\n${failure.stack}` : String(failure);
  return String(failure);
}

function run(fn, args) {
  try {
    fn(new Db(), Object.fromEntries(args));
  } catch (failure) {
    throw text(failure);
  }
}

export function up(args) {
  if (typeof transform.up !== 'function') throw 'transform.js exports no up(db, args)';
  run(transform.up, args);
}

export function down(args) {
  if (typeof transform.down !== 'function') throw 'this transform has no down';
  run(transform.down, args);
}

export function info() {
  return { sdkVersion: SDK_VERSION, hasDown: typeof transform.down === 'function' };
}
