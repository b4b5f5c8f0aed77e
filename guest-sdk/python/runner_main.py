"""runner's entry point for a Python transform: the component's exports, which call the
`up` and `down` of the transform's own module (`transform.py`). componentize-py builds this
module; `info` says whether the transform has a `down`, from what `transform.py` defines."""

import contextlib as _contextlib
import io as _io
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


class _LogStream(_io.TextIOBase):
    """sys.stdout or sys.stderr during a run: the sandbox discards the component's output, so
    each line printed goes to runner's log instead (stdout as info, stderr as warn), where the
    author sees it under the step."""

    def __init__(self, say):
        self._say = say
        self._line = ""

    def writable(self):
        return True

    def write(self, text):
        lines = (self._line + text).split("\n")
        self._line = lines.pop()
        for line in lines:
            self._say(line)
        return len(text)

    def flush(self):
        if self._line:
            self._say(self._line)
            self._line = ""


def _run(function, args):
    out, err = _LogStream(_sdk.info), _LogStream(_sdk.warn)
    try:
        with _contextlib.redirect_stdout(out), _contextlib.redirect_stderr(err):
            try:
                function(_sdk.Db(), _sdk.Args(args))
            finally:
                # A line left unfinished is shown too, unless the log itself refuses it (its
                # limit): that must not hide why the transform failed.
                with _contextlib.suppress(Exception):
                    out.flush()
                    err.flush()
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
