"""fray's Python worker: runs functions and actors for a C++ driver.

    python fray_worker.py IN_FD JOURNAL_FD BELL_FD MAX_FRAME_BYTES [SPIN_MICROSECONDS]

Shipped with fray and run by the env's own interpreter; it needs nothing but
the standard library and is never installed into the env. The protocol runs
over dedicated descriptors (stdin and stdout stay the user's). A frame is
its length (4 bytes), its kind (1 byte), the number N of the request it is
about (8 bytes) and a payload; numbers are little-endian. The reference is
pyworker/fray/detail/worker_protocol.hpp:

    driver -> worker   R N json   request N: {"f"|"c"|"m": target, "a": [...], "k": {...}}
                       Q N json   the same, expected to be short
                       X N        cancel N
                       W N        give N back if it has not started
    worker -> driver   S N t      N starts now, at t (CLOCK_MONOTONIC nanoseconds)
                       R N json   N returned this result
                       E N json   N raised: {"type", "module", "message", "traceback", "lookup", "frame", "json"}
                       D N        N was dropped before it started

Requests run one at a time, in order. Before a request runs, "N starts" goes
into the journal together with the previous request's answer, so whatever
happens to the worker, the driver knows which calls finished, which one ran
and which never started. The journal is JOURNAL_FD: shared memory (a memfd;
a byte ring, see write_to_ring) where the driver's CPU orders stores, else a
pipe. Nobody polls it: the worker writes one byte to BELL_FD (a pipe) to
have the driver read it: before it waits for requests, before a request not
marked "Q" (whose answers must not wait behind it), at least every
millisecond of "Q" calls, and for each 16 KiB. So a batch of short calls
costs the driver one wake-up.

A cancel drops a request that has not started (answered "D"), interrupts
request N if it runs when SIGINT comes (KeyboardInterrupt, answered as an
error) and does nothing to a finished one: the driver writes the cancel,
then sends SIGINT, and the handler reads the control frames before it
decides. A withdrawal ("W") drops N the same way if it has not started (the
driver sends it elsewhere) and is ignored otherwise. An error's message and
traceback are cut (head and tail kept, with a note saying how much went) so
that its frame fits MAX_FRAME_BYTES: an exception of any size is an answer,
never an oversized frame. The worker exits when its input reaches end of
file.

JSON nests up to MAX_JSON_DEPTH levels both ways. _json recurses once per
level, so a request or a result that reaches the recursion limit is tried
again with the limit raised by that much (only then: other calls pay
nothing for it). A result JSON cannot carry (nan, deeper than that, a str
with a lone surrogate) is answered as an error marked "json"
(fray::UnsupportedJson), and lone surrogates in an error's text are sent
escaped. The driver refuses arguments past the limits before it sends them.

IN_FD is a Unix socket (so the driver writes without SIGPIPE). With
SPIN_MICROSECONDS (FRAY_WORKER_SPIN_US in the driver), the worker polls for
the next request that long after answering before it sleeps: waking a
sleeping process costs tens of microseconds on small VMs, but polling costs
far more than it saves when the cores are busy, so it is off by default.

Start-up cost matters (a cold worker is timed against `python -c pass`), so
the driver imports this file as a module (its bytecode is cached, where a
script would be compiled at every start: ~3 ms), and it imports only
built-in modules, and `mmap` (a small extension module, ~0.3 ms) for the
shared journal: `json` would pull in `re` and triple the start-up time; its
C accelerator `_json` does the work here instead.
"""

from _collections import deque  # the C module: `collections` costs a millisecond to import
import os
import _signal  # not `signal`: that one imports enum, a third of start-up
import sys
import time

import _json
import _socket


class _DecodeContext:
    # What _json.make_scanner reads from a json.JSONDecoder. (No `memo`: the
    # C scanner keeps its own and clears it after each call.)
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

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
# The same, writing characters as they are (not \\u escapes): its text
# encodes to UTF-8 only if no string holds a lone surrogate.
_encode_text = _json.make_encoder(None, _not_serializable, _json.encode_basestring,
                                  None, ":", ",", False, False, False)

# fray::max_python_json_depth (pyworker/fray/python_json.hpp): the deepest
# nesting of arrays and objects in one argument or result.
MAX_JSON_DEPTH = 1000


class UnsupportedJson(ValueError):
    """A result JSON cannot carry to the driver (fray::UnsupportedJson)."""


def _with_room_for_depth(function, value):
    """function(value) with the recursion limit raised for MAX_JSON_DEPTH
    more levels: _json's scanner and encoder recurse once per level, and
    the default limit (1,000) counts the frames below this one too."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + MAX_JSON_DEPTH + 50)
    try:
        return function(value)
    finally:
        sys.setrecursionlimit(limit)


def _decode(payload):
    text = str(payload, "utf-8")
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("malformed request frame")
    return value


def decode(payload):
    try:  # _decode, inline: this runs once per call
        return _scan(str(payload, "utf-8"), 0)[0]
    except StopIteration:
        raise ValueError("malformed request frame")
    except RecursionError:
        pass  # deep: again with room (only then, so calls pay nothing for it)
    try:
        return _with_room_for_depth(_decode, payload)
    except RecursionError:
        raise UnsupportedJson("the request is nested deeper than %d levels of arrays and objects"
                              % MAX_JSON_DEPTH) from None


def encode(value):
    return "".join(_encode(value, 0)).encode("ascii")


def _target_of(request):
    """What a request calls ("pkg.mod:f", a method or a class), for errors."""
    return request.get("f") or request.get("m") or request.get("c")


def encode_result(value, request):
    """A call's result as JSON; UnsupportedJson for what JSON (or fray)
    cannot carry. Deeper than MAX_JSON_DEPTH the driver refuses it too."""
    if value is None:
        return b"null"
    try:
        try:
            payload = encode(value)
        except RecursionError:
            payload = _with_room_for_depth(encode, value)
    except RecursionError:
        raise UnsupportedJson("the result of %s: nested deeper than %d levels of arrays and objects "
                              "(fray::max_python_json_depth), or it contains itself"
                              % (_target_of(request), MAX_JSON_DEPTH)) from None
    except ValueError as error:
        # The encoder's: nan, inf or -inf (allow_nan is off), or an int past
        # sys.get_int_max_str_digits() that has no decimal form.
        name = _target_of(request)
        if "integer" in str(error):
            raise UnsupportedJson("the result of %s: an integer beyond 64 bits (too long for Python to write "
                                  "in decimal)" % name) from None
        raise UnsupportedJson("the result of %s: a float that is not finite (nan, inf or -inf; JSON has no "
                              "NaN or infinity)" % name) from None
    if b"\\ud" in payload:  # a character past U+FFFF, or a lone surrogate: look closer
        try:
            _with_room_for_depth(lambda v: "".join(_encode_text(v, 0)).encode("utf-8"), value)
        except UnicodeEncodeError as error:
            raise UnsupportedJson("the result of %s: a str with a lone surrogate (%r), which is not Unicode text "
                                  "and has no UTF-8 form" % (_target_of(request), error.object[error.start:error.end])) from None
    return payload


HEADER_BYTES = 9  # a frame's kind and request number, after its length
STARTED = (HEADER_BYTES + 8).to_bytes(4, "little") + b"S"  # an "S" frame up to its number


def frame_of(kind, number, payload=b""):
    """A frame: its length, its kind (one byte), the request's number (as
    the 8 bytes it came in), `payload`."""
    return (len(payload) + HEADER_BYTES).to_bytes(4, "little") + kind + number + payload


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
    room = max_frame - HEADER_BYTES - len(encode(fields))
    fields["message"] = _cut_to(message, max(room // 2, room - _json_size(trace)), max_frame)
    fields["traceback"] = _cut_to(trace, room - _json_size(fields["message"]), max_frame)
    payload = encode(fields)
    if len(payload) + HEADER_BYTES <= max_frame:
        return payload
    # A limit too small for the notes: the type alone, or an empty error.
    payload = encode({"type": fields["type"], "message": "[fray: cut: the error exceeded max_frame_bytes]"})
    return payload if len(payload) + HEADER_BYTES <= max_frame else b"{}"


def error_payload(error, max_frame):
    """The JSON of an "E" frame's error, cut to fit `max_frame`."""
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
        "json": isinstance(error, UnsupportedJson),
    }
    for key in ("type", "module", "message", "traceback"):
        # A lone surrogate (in a message, say) as its escape: the driver
        # reads only Unicode text.
        if isinstance(fields[key], str):
            fields[key] = fields[key].encode("utf-8", "backslashreplace").decode("utf-8")
    payload = encode(fields)
    return payload if len(payload) + HEADER_BYTES <= max_frame else _fit_error(fields, max_frame)


class Worker:
    """Runs requests one at a time, in the order they came; see the module
    docstring for what it tells the driver and when."""

    # Ring the bell at least this often while answers wait, and before the
    # journal holds this much unread: the driver reads the journal only when
    # rung, and a writer blocked on a full pipe would wait for it forever.
    RING_AFTER_SECONDS = 0.001
    RING_BEFORE_BYTES = 16384

    def __init__(self, max_frame, spin_seconds):
        self.max_frame = max_frame
        self.spin_seconds = spin_seconds
        self.instance = None
        self.running = b""        # the number of the call running (its 8 bytes); empty between calls
        self.cancelled = False    # the driver asked to cancel the call running
        self.queue = deque()      # requests read and not started, oldest first
        self.pending = bytearray()  # bytes read that make no whole frame yet
        self.out = []             # frames for the journal, written before the next call starts
        self.unrung_bytes = 0     # written to the journal since the bell last rang
        self.unrung_answers = 0.0  # when the oldest answer the driver was not rung for was written; 0: none
        self.must_read = False    # a SIGINT came between calls: read before going on
        self.reading = False      # read_now runs (a SIGINT then only sets must_read)
        self.in_handler = False   # on_sigint runs
        self.starting = b""       # the number of the call taken off the queue, until it ends
        self.must_ring = False    # a dropped call's answer is in `out`
        self.at_eof = False
        self.last_read = 0.0

    def on_sigint(self, signum, frame):
        # SIGINT says "read your control frames now". Between calls the main
        # loop does that before it starts the next one; during a call this
        # handler does, and interrupts the call only if one of them cancels
        # it: a late cancel (of a call that has finished) or the withdrawal of
        # a queued call must not hit the call that runs now.
        if not self.running or self.reading or self.in_handler:
            # Between calls, in the middle of a read (in run_one), or inside
            # this handler (a signal interrupts a handler): the loop around
            # that code looks again.
            self.must_read = True
            return
        self.in_handler = True
        try:
            self.must_read = True
            while self.must_read:
                self.must_read = False
                self.read_now()
                if self.out:
                    self.flush()
                    self.ring()  # a dropped call's answer goes out at once
        finally:
            self.in_handler = False
        if self.cancelled:
            raise KeyboardInterrupt

    def take_frames(self):
        """Parses the whole frames in `pending`: requests join the queue,
        a cancel ({"x": N}) or a withdrawal ({"w": N}) drops request N if it
        is queued (answered {"i": N, "d": 1}); a cancel flags N if it runs.
        Either is ignored once N has finished."""
        pending = self.pending
        max_frame = self.max_frame
        if len(pending) < 4:
            return
        first = int.from_bytes(pending[:4], "little")
        if HEADER_BYTES <= first <= max_frame and len(pending) < 4 + first:
            return  # not a whole frame yet: nothing to parse (a bad length is refused below)
        # A small batch is copied once and sliced (slices of bytes are
        # bytes); a large one is sliced through a view, each request copied
        # once, so that a frame near max_frame is never held three times.
        data = bytes(pending) if len(pending) <= 65536 else memoryview(pending)
        append = self.queue.append
        offset = 0
        size = len(data)
        while size - offset >= 4:
            length = int.from_bytes(data[offset:offset + 4], "little")
            if length > max_frame or length < HEADER_BYTES:
                sys.stderr.write("fray worker: a request frame of %d bytes (at most %d)\n" % (length, max_frame))
                os._exit(3)
            end = offset + 4 + length
            if end > size:
                break
            kind = data[offset + 4]
            if kind == 81 or kind == 82:  # "Q" a request expected to be short, "R" any other
                append((bytes(data[offset + 5:offset + 13]), kind == 81, bytes(data[offset + 13:end])))
            else:
                self.control(kind, bytes(data[offset + 5:offset + 13]))
            offset = end
        if type(data) is memoryview:
            data.release()  # before `pending` changes size
        if offset:
            del pending[:offset]

    def control(self, kind, number):
        if kind == 88 and (number == self.running or number == self.starting):  # "X" cancels the call running
            self.cancelled = True
            return
        for queued in self.queue:  # "X" or "W" for a call queued here, if it is
            if queued[0] == number:
                self.queue.remove(queued)
                self.out.append(frame_of(b"D", number))
                self.must_ring = True
                return

    def read_now(self):
        """Takes what the request socket holds, without waiting."""
        self.reading = True
        try:
            self.read_available()
        finally:
            self.reading = False

    def read_available(self):
        while True:
            try:
                received = self.receive(self.buffer, 0, _socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not received:
                self.at_eof = True
                break
            self.pending += self.view_of_buffer[:received]
        self.last_read = self.clock()
        self.take_frames()

    def read_waiting(self):
        """Waits for requests (polling first for spin_seconds, if set)."""
        if self.spin_seconds:
            spin_until = self.clock() + self.spin_seconds
            while True:
                try:
                    received = self.receive(self.buffer, 0, _socket.MSG_DONTWAIT)
                    break
                except BlockingIOError:
                    if self.clock() > spin_until:
                        received = self.receive(self.buffer)
                        break
        else:
            received = self.receive(self.buffer)
        if not received:
            self.at_eof = True
            return
        self.pending += self.view_of_buffer[:received]
        if received == len(self.buffer):
            self.read_now()  # and whatever came behind it
            return
        self.last_read = self.clock()
        self.take_frames()

    def flush(self):
        """Writes the frames in `out` to the journal."""
        data = b"".join(self.out)
        self.out.clear()
        self.write_journal(data)

    def write_to_ring(self, data):
        """The journal in shared memory: a byte ring the driver reads.
        Memory stays when a process dies, so what is written here reaches the
        driver even if the worker crashes the next moment, at no system call.
        Layout (64-bit little-endian words): word 0 how much was ever written
        (this side), word 8 how much was ever read (the driver's); the data
        from byte 128 on."""
        size = len(data)
        written = self.ring_written
        start = written % self.ring_capacity
        words = self.ring_words
        if start + size <= self.ring_capacity and size <= self.ring_capacity - (written - words[8]):
            self.ring_memory[128 + start:128 + start + size] = data
            written += size
            words[0] = written  # after the data: the driver reads up to here
            self.ring_written = written
            self.unrung_bytes += size
            if self.unrung_bytes > self.RING_BEFORE_BYTES:
                self.ring()
            return
        self.write_to_ring_in_pieces(memoryview(data))

    def write_to_ring_in_pieces(self, data):
        """Where the ring wraps, or its free room is short (a large answer):
        as much as fits at a time, the driver rung for each piece."""
        ring = self.ring_memory
        words = self.ring_words
        capacity = self.ring_capacity
        written = self.ring_written
        at = 0
        size = len(data)
        while at < size:
            free = capacity - (written - words[8])
            if not free:
                self.ring()  # full: the driver reads when rung
                time.sleep(0.0001)
                continue
            start = written % capacity
            count = min(free, size - at, capacity - start)
            ring[128 + start:128 + start + count] = data[at:at + count]
            written += count
            at += count
            words[0] = written
            self.ring_written = written
            self.unrung_bytes += count
            if self.unrung_bytes > self.RING_BEFORE_BYTES:
                self.ring()  # a lot: the driver reads while the rest is written

    # What a pipe surely holds: a pipe past the user's pipe-user-pages-soft
    # gets one page, and a write that cannot fit before the driver reads
    # would block for good (the driver reads when rung).
    PIPE_PIECE_BYTES = 4096

    def write_to_pipe(self, data):
        """The journal as a pipe (where shared memory's store order is not
        guaranteed): one system call per write."""
        piece = self.PIPE_PIECE_BYTES
        if self.unrung_bytes + len(data) <= piece:
            self.unrung_bytes += len(data)
            written = os.write(self.journal_fd, data)
            if written < len(data):  # a signal came during the write
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(self.journal_fd, view):]
            return
        # More than the pipe surely holds: rung for piece by piece, so that
        # the driver reads while the rest is written.
        self.ring()
        view = memoryview(data)
        while view:
            view = view[os.write(self.journal_fd, view[:piece]):]
            self.ring()

    def ring(self):
        """Tells the driver to read the journal."""
        self.must_ring = False
        # User output first, so its lines arrive before the answers.
        try:
            self.flush_out()
            self.flush_err()
        except Exception:
            pass
        self.unrung_bytes = 0
        self.unrung_answers = 0.0
        try:
            os.write(self.bell_fd, b"!")
        except BlockingIOError:
            pass  # it has rings to read already

    def run_one(self, number, payload):
        """Runs one request; returns its answer frame."""
        try:
            request = decode(payload)
            if type(request) is not dict:
                raise ValueError("the request is not a JSON object")
            args = request.get("a") or ()
            kwargs = request.get("k")  # most calls have none: no empty dict to build and unpack
            name = request.get("f")
            constructs = False
            if name is not None:
                target = _resolved.get(name) or resolve(name)  # resolve's cache, inline
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
                constructs = True
            self.running = number  # self.cancelled stays: a cancel may have come since it was taken
            try:
                # A SIGINT between the last look and now found no call
                # running: its cancel may be for this one.
                while self.must_read:
                    self.must_read = False
                    self.read_now()
                if self.cancelled:
                    raise KeyboardInterrupt
                result = target(*args, **kwargs) if kwargs else target(*args)
            finally:
                self.running = b""
            if constructs:
                self.instance = result
                result = None
            payload = b"null" if result is None else encode_result(result, request)
            length = len(payload) + HEADER_BYTES
            if length > self.max_frame:
                raise FrameTooLarge("the result is %d bytes of JSON, over the frame size limit of %d bytes"
                                    % (len(payload), self.max_frame))
            return b"".join((length.to_bytes(4, "little"), b"R", number, payload))
        except BaseException as error:  # KeyboardInterrupt and SystemExit too: the call failed
            self.running = b""
            if isinstance(error, SystemExit):
                raise
            return frame_of(b"E", number, error_payload(error, self.max_frame))

    def serve(self, in_fd, journal_fd, bell_fd):
        requests = _socket.socket(fileno=in_fd)
        self.journal_fd = journal_fd
        if os.fstat(journal_fd).st_size > 128:  # shared memory (a pipe has no size)
            import mmap  # built as a module of its own: only now
            self.ring_memory = mmap.mmap(journal_fd, 0)
            os.close(journal_fd)  # the mapping keeps a descriptor of its own
            self.ring_capacity = len(self.ring_memory) - 128
            # Native words are little-endian where the driver uses the ring (x86).
            self.ring_words = memoryview(self.ring_memory)[:128].cast("Q")
            self.ring_written = self.ring_words[0]
            self.write_journal = self.write_to_ring
        else:
            self.write_journal = self.write_to_pipe
        self.bell_fd = bell_fd
        os.set_blocking(bell_fd, False)
        # Read into one buffer: recv(n) would allocate n bytes every time.
        self.buffer = bytearray(1 << 20)
        self.view_of_buffer = memoryview(self.buffer)
        self.receive = requests.recv_into
        # time.monotonic is CLOCK_MONOTONIC, as monotonic_ns: a call's "S"
        # stamp also gives the loop its `now`, one clock read per call.
        self.clock = time.monotonic
        monotonic_ns = time.monotonic_ns
        self.flush_out = sys.stdout.flush
        self.flush_err = sys.stderr.flush
        queue = self.queue
        out = self.out
        write_journal = self.write_journal
        ring_after = self.RING_AFTER_SECONDS
        ring_before = self.RING_BEFORE_BYTES
        ring = getattr(self, "ring_memory", None)
        capacity = getattr(self, "ring_capacity", 0)
        words = getattr(self, "ring_words", None)
        last_answer = b""  # the frame of the call that ran last, not yet written
        while True:
            if not queue:
                if last_answer:
                    write_journal(last_answer)
                    last_answer = b""
                if out:
                    self.flush()
                if self.unrung_answers or self.unrung_bytes:
                    self.ring()  # the answers go before this sleeps
                if self.at_eof:
                    return
                self.read_waiting()
                continue
            stamp = monotonic_ns()
            now = stamp * 1e-9
            # Control frames that came while the last call ran (a SIGINT
            # says so; a long call is reason enough to look).
            if self.must_read or now - self.last_read > 0.001:
                self.must_read = False
                self.read_now()
                if not queue:
                    continue
                stamp = monotonic_ns()  # the read took its time
            number, quick, request = queue.popleft()
            self.cancelled = False
            self.starting = number
            # "N starts", with the time it does (CLOCK_MONOTONIC, the
            # driver's steady clock), in the journal before the call runs,
            # written with the last answer: if the worker dies now, the
            # driver knows which call it was.
            data = b"".join((last_answer, STARTED, number, stamp.to_bytes(8, "little")))
            written = self.ring_written if ring is not None else 0
            start = written % capacity if capacity else 0
            size = len(data)
            if (ring is not None and not out and start + size <= capacity and written + size - words[8] <= capacity
                    and self.unrung_bytes + size <= ring_before):
                # write_to_ring's common case, inline: this runs once per call.
                ring[128 + start:128 + start + size] = data
                written += size
                words[0] = written
                self.ring_written = written
                self.unrung_bytes += size
            else:
                if out:
                    self.flush()  # answers of dropped calls
                write_journal(data)
            # Answers wait for the bell only behind a call the driver
            # expects to be short ("Q"), and not for long.
            if self.must_ring or (self.unrung_answers and (not quick or now - self.unrung_answers > ring_after)):
                self.ring()
            last_answer = self.run_one(number, request)
            self.starting = b""
            self.cancelled = False
            if not self.unrung_answers:
                self.unrung_answers = now


def main():
    in_fd, journal_fd, bell_fd, max_frame = (int(arg) for arg in sys.argv[1:5])
    # User code's subprocesses must not hold the protocol pipes open.
    for fd in (in_fd, journal_fd, bell_fd):
        os.set_inheritable(fd, False)
    # The worker's own directory is not the user's: import from the working
    # directory instead, as `python -c` does.
    spin = int(sys.argv[5]) / 1e6 if len(sys.argv) > 5 else 0.0
    sys.path[0] = os.getcwd()
    sys.argv = [sys.argv[0]]
    worker = Worker(max_frame, spin)
    _signal.signal(_signal.SIGINT, worker.on_sigint)
    try:
        worker.serve(in_fd, journal_fd, bell_fd)
    except BrokenPipeError:
        pass  # the driver is gone


def start():
    import faulthandler  # built in: a crash prints the Python stack to stderr
    faulthandler.enable()
    main()


if __name__ == "__main__":
    start()
