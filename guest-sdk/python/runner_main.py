"""runner's entry point for a Python transform: the component's exports, which call the
`up` and `down` of the transform's own module (`transform.py`). componentize-py builds this
module; `info` says whether the transform has a `down`, from what `transform.py` defines."""

import traceback as _traceback

import runner_transform as _sdk
import transform as _transform
from componentize_py_types import Err as _Err
from wit_world import Info as _Info
from wit_world import WitWorld as _World

# What runner shows of an exception that escaped the transform: its message, and where in
# the transform it was raised.
_TRACE_LINES = 12


def _function(name):
    function = getattr(_transform, name, None)
    return function if callable(function) else None


def _run(function, args):
    try:
        function(_sdk.Db(), _sdk.Args(args))
    except _Err:
        raise
    except _sdk.TransformError as failure:
        raise _Err(str(failure)) from None
    except Exception as failure:  # noqa: BLE001 - any exception fails the revision
        trace = _traceback.format_exception(failure)
        raise _Err("".join(trace[-_TRACE_LINES:]).rstrip()) from None


class WitWorld(_World):
    def up(self, args):
        up = _function("up")
        if up is None:
            raise _Err("transform.py defines no up(db, args)")
        _run(up, args)

    def down(self, args):
        down = _function("down")
        if down is None:
            raise _Err("this transform has no down")
        _run(down, args)

    def info(self):
        return _Info(sdk_version=_sdk.SDK_VERSION, has_down=_function("down") is not None)
