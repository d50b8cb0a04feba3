"""fray's Python worker: runs functions and actors for a C++ driver.

    python fray_worker.py IN_FD OUT_FD MAX_FRAME_BYTES [SPIN_MICROSECONDS]

Shipped with fray and run by the env's own interpreter; it needs nothing but
the standard library and is never installed into the env. The protocol runs
over two dedicated pipe descriptors (stdin and stdout stay the user's):
frames of a 4-byte little-endian length and a JSON payload.

    driver -> worker   {"f": "pkg.module:function", "a": [...], "k": {...}}
                       {"c": "pkg.module:Class", "a": [...], "k": {...}}   (actor constructor)
                       {"m": "method", "a": [...], "k": {...}}             (actor method)
    worker -> driver   {"r": result}
                       {"e": {"type", "module", "message", "traceback", "lookup", "frame"}}

Requests are answered one at a time, in order. An error's message and
traceback are cut (head and tail kept, with a note saying how much went) so
that its frame fits MAX_FRAME_BYTES: an exception of any size is an answer,
never an oversized frame. The worker exits when its input reaches end of
file. SIGINT interrupts the running call (KeyboardInterrupt) and is ignored
between calls.

IN_FD is a Unix socket (so the driver writes without SIGPIPE), OUT_FD a pipe.
With SPIN_MICROSECONDS (FRAY_WORKER_SPIN_US in the driver), the worker polls
for the next request that long after answering before it sleeps: waking a
sleeping process costs tens of microseconds on small VMs, but polling costs
far more than it saves when the cores are busy, so it is off by default.

Start-up cost matters (a cold worker is timed against `python -c pass`), so
the driver imports this file as a module (its bytecode is cached, where a
script would be compiled at every start: ~3 ms), and it imports only
built-in modules: `json` would pull in `re` and triple the
start-up time; its C accelerator `_json` does the work here instead.
"""

import os
import _signal  # not `signal`: that one imports enum, a third of start-up
import sys
import time

import _json
import _socket


class _DecodeContext:
    # What _json.make_scanner reads from a json.JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    @staticmethod
    def parse_constant(name):
        raise ValueError("JSON does not allow " + name)


class NotJsonSerializable(TypeError):
    pass


def _not_serializable(value):
    raise NotJsonSerializable(
        "a result of type %s is not JSON serializable" % type(value).__name__)


_scan = _json.make_scanner(_DecodeContext())
_encode = _json.make_encoder(None, _not_serializable, _json.encode_basestring_ascii,
                             None, ":", ",", False, False, False)


def decode(payload):
    text = payload.decode("utf-8")
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("malformed request frame")
    finally:
        _DecodeContext.memo.clear()
    return value


def encode(value):
    return "".join(_encode(value, 0)).encode("ascii")


class FrameTooLarge(Exception):
    """A result whose JSON is over the frame size limit."""


class LookupFailed(Exception):
    """The module, function, class or method named by a request is missing.
    Reported as `kind` (ModuleNotFoundError, AttributeError, ...)."""

    def __init__(self, message, kind="AttributeError"):
        Exception.__init__(self, message)
        self.kind = kind


_resolved = {}


def resolve(name):
    """'pkg.module:attr.path' -> the object, cached."""
    target = _resolved.get(name)
    if target is not None:
        return target
    module_name, sep, attr_path = name.partition(":")
    if not sep or not module_name or not attr_path:
        raise LookupFailed("'%s' is not of the form 'package.module:function'" % name, "ValueError")
    try:
        __import__(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise LookupFailed("cannot import module '%s' for '%s': %s (is the package installed in this env?)"
                               % (module_name, name, e), "ModuleNotFoundError") from None
        raise
    target = sys.modules[module_name]
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LookupFailed("module '%s' has no attribute '%s' (looking up '%s')"
                               % (module_name, attr_path, name)) from None
    if not callable(target):
        raise LookupFailed("'%s' is not callable" % name, "TypeError")
    _resolved[name] = target
    return target


_CUT_NOTE = "[fray: cut %d characters: the error exceeded max_frame_bytes=%d]"


def _json_size(text):
    """Bytes of `text` as a JSON string, quotes left out (escaped to ASCII)."""
    return len(_json.encode_basestring_ascii(text)) - 2


def _cut_to(text, budget, max_frame):
    """`text`, or its head and tail with a note between them, in at most
    `budget` bytes of JSON. Escapes make bytes per character vary (1 to 12),
    so the cut is scaled to the text's average first, then by what is over."""
    budget = max(budget, 0)
    size = _json_size(text)
    if size <= budget:
        return text
    # Room for the note and the newlines around it first.
    keep = len(text) * max(budget - _json_size("\n%s\n" % (_CUT_NOTE % (len(text), max_frame))), 0) // size
    for _ in range(3):
        half = keep // 2
        note = _CUT_NOTE % (len(text) - 2 * half, max_frame)
        cut = text[:half] + "\n" + note + "\n" + text[len(text) - half:]
        over = _json_size(cut) - budget
        if over <= 0:
            return cut
        keep = max(keep - over - 1, 0)  # each character is at least one byte
    return _CUT_NOTE % (len(text), max_frame)


def _fit_error(fields, max_frame):
    """Cuts the message and the traceback so the error frame fits: a
    message gets at least half the room left, the traceback the rest."""
    message, trace = fields["message"], fields["traceback"]
    fields["message"] = fields["traceback"] = ""
    room = max_frame - len(encode({"e": fields}))
    fields["message"] = _cut_to(message, max(room // 2, room - _json_size(trace)), max_frame)
    fields["traceback"] = _cut_to(trace, room - _json_size(fields["message"]), max_frame)
    frame = encode({"e": fields})
    if len(frame) <= max_frame:
        return frame
    # A limit too small for the notes: the type alone, or an empty error.
    frame = encode({"e": {"type": fields["type"], "message": "[fray: cut: the error exceeded max_frame_bytes]"}})
    return frame if len(frame) <= max_frame else b'{"e":{}}'


def error_frame(error, max_frame):
    import traceback  # only on failure: it is not free to import
    kind = type(error)
    lookup = isinstance(error, LookupFailed)
    fields = {
        "type": error.kind if lookup else kind.__qualname__,
        "module": "builtins" if lookup else kind.__module__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(kind, error, error.__traceback__)),
        "lookup": lookup,
        "frame": isinstance(error, FrameTooLarge),
    }
    frame = encode({"e": fields})
    return frame if len(frame) <= max_frame else _fit_error(fields, max_frame)


class Worker:
    def __init__(self, max_frame, spin_seconds):
        self.max_frame = max_frame
        self.spin_seconds = spin_seconds
        self.in_call = False
        self.instance = None

    def on_sigint(self, signum, frame):
        # Only a running call is interrupted; between calls SIGINT is a late
        # cancel of a call that already finished.
        if self.in_call:
            raise KeyboardInterrupt

    def run_one(self, request):
        try:
            args = request.get("a") or ()
            kwargs = request.get("k") or {}
            if "f" in request:
                target = resolve(request["f"])
            elif "m" in request:
                if self.instance is None:
                    raise LookupFailed("this actor has no instance")
                name = request["m"]
                if name.startswith("__"):
                    raise LookupFailed("'%s' is private: dunder methods cannot be called" % name, "ValueError")
                try:
                    target = getattr(self.instance, name)
                except AttributeError:
                    raise LookupFailed("%s has no method '%s'" % (type(self.instance).__name__, name)) from None
            else:
                target = resolve(request["c"])
            self.in_call = True
            try:
                result = target(*args, **kwargs)
            finally:
                self.in_call = False
            if "c" in request:
                self.instance = result
                result = None
            frame = encode({"r": result})
            if len(frame) > self.max_frame:
                raise FrameTooLarge("the result is %d bytes of JSON, over the frame size limit of %d bytes"
                                    % (len(frame), self.max_frame))
            return frame
        except BaseException as error:  # KeyboardInterrupt and SystemExit too: the call failed
            self.in_call = False
            if isinstance(error, SystemExit):
                raise
            return error_frame(error, self.max_frame)

    def serve(self, in_fd, out_fd):
        requests = _socket.socket(fileno=in_fd)
        # Read into one buffer: recv(n) would allocate n bytes every time.
        buffer = bytearray(1 << 20)
        view_of_buffer = memoryview(buffer)
        receive = requests.recv_into
        dontwait = _socket.MSG_DONTWAIT
        clock = time.perf_counter
        write = os.write
        pending = bytearray()
        flush_out = sys.stdout.flush
        flush_err = sys.stderr.flush
        spin_until = 0.0
        while True:
            received = -1
            while spin_until:
                try:
                    received = receive(buffer, 0, dontwait)
                    break
                except BlockingIOError:
                    if clock() > spin_until:
                        break
            if received < 0:
                received = receive(buffer)
            if not received:
                return
            pending += view_of_buffer[:received]
            replies = []
            offset = 0
            size = len(pending)
            # Every complete frame read so far is answered, and the answers
            # go out in one write: pipelined requests cost one wake-up.
            while size - offset >= 4:
                length = int.from_bytes(pending[offset:offset + 4], "little")
                if length > self.max_frame:
                    sys.stderr.write("fray worker: a request frame of %d bytes is over the limit\n" % length)
                    os._exit(3)
                if size - offset - 4 < length:
                    break
                request = decode(bytes(pending[offset + 4:offset + 4 + length]))
                offset += 4 + length
                reply = self.run_one(request)
                replies.append(len(reply).to_bytes(4, "little"))
                replies.append(reply)
            if offset:
                del pending[:offset]
            spin_until = 0.0
            if replies:
                # User output first, so its lines arrive before the result.
                try:
                    flush_out()
                    flush_err()
                except Exception:
                    pass
                data = b"".join(replies) if len(replies) > 2 else replies[0] + replies[1]
                view = memoryview(data)
                while view:
                    view = view[write(out_fd, view):]
                if self.spin_seconds:
                    spin_until = clock() + self.spin_seconds


def main():
    in_fd, out_fd, max_frame = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    # User code's subprocesses must not hold the protocol pipes open.
    os.set_inheritable(in_fd, False)
    os.set_inheritable(out_fd, False)
    # The worker's own directory is not the user's: import from the working
    # directory instead, as `python -c` does.
    spin = int(sys.argv[4]) / 1e6 if len(sys.argv) > 4 else 0.0
    sys.path[0] = os.getcwd()
    sys.argv = [sys.argv[0]]
    worker = Worker(max_frame, spin)
    _signal.signal(_signal.SIGINT, worker.on_sigint)
    try:
        worker.serve(in_fd, out_fd)
    except BrokenPipeError:
        pass  # the driver is gone


def start():
    import faulthandler  # built in: a crash prints the Python stack to stderr
    faulthandler.enable()
    main()


if __name__ == "__main__":
    start()
