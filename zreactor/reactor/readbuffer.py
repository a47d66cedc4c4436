"""ReadBuffer: the bytes a stream has read and its codec has not consumed yet.

Theory of operation
-------------------
A codec that cuts frames out of a byte stream needs the bytes since the end of the last
complete frame. The simple way, ``recv()`` a fresh ``bytes`` per read and append the
incomplete tail to a ``bytearray``, copies a large frame several times on its way to the
application (kernel → the ``recv()`` result → the tail buffer → a joined copy → the body) and
allocates a new block for every read, which for blocks past glibc's mmap threshold (128 KiB)
means an ``mmap``, page faults and an ``munmap`` per read. A ReadBuffer is one reusable
``bytearray`` that the engine reads into directly, ``n = sock.recv_into(rb.space(need))``:
the kernel copies each byte into it once, and the codec copies each body out of it once.

::

    data:  [ consumed  | window: read, not consumed | space: the next read lands here ]
           0           start                        end                       len(data)

The rules:

* ``space(need)`` returns a ``memoryview`` of ``data[end:]`` with room for the rest of the
  frame the codec waits for (``need``: that frame's whole size, window included; 0 when it
  does not know) and at least :data:`MIN_SPACE` bytes. When the free tail is shorter, the
  window moves to the front (one copy of the unconsumed bytes, at most one partial frame);
  when the array is too small for that, a larger one replaces it. The array is never
  resized in place, so a ``memoryview`` someone still holds never blocks anything.
* ``filled(n)`` extends the window by what the read wrote; ``append(data)`` copies bytes in
  (for codecs fed chunk by chunk); ``consume(n)`` drops a prefix the codec has decoded.
  ``consume`` never writes the array (it moves indices, or drops the array), so the bytes
  just consumed stay where they are until the next ``space()`` or ``append()``: a codec may
  hand them out in place for that long, and whoever it hands them to may overwrite them
  (CURVE opens its boxes there).
* *Sizing follows the frames.* The array starts at :attr:`ReadBuffer.size` (64 KiB: a read
  of small messages carries hundreds) and grows to hold :attr:`ReadBuffer.frames` frames of
  the size the codec waits for, up to :attr:`ReadBuffer.limit`, so a stream of 64 KiB
  messages is read four at a time rather than a partial frame per read. For a frame larger
  than that the array grows fourfold as the frame's bytes arrive (each read asks for at most
  ``limit`` more): what a peer *announces* is never allocated up front. An array grown past the limit is dropped once
  its window empties.
* *Quiet connections hold nothing.* When a small read (under :data:`MIN_SPACE` bytes: a
  request, a reply, a heartbeat) leaves the window empty, the array is dropped; the next
  ``space()`` allocates a new one. A stream, whose reads are larger, keeps its array, even
  when a read does not fill it (a Unix socket returns about one ``send()`` of the peer's per
  read). So a server's thousands of quiet connections cost no buffer each (libzmq keeps an
  8 KiB one per connection), at the price of one allocation per read for a connection that
  only ever exchanges small messages (about what a ``recv()`` of a fresh ``bytes`` costs).
  The one case this leaves: a stream that stops dead after a large read keeps its array
  (at most ``limit``: a larger one is dropped once empty) until its next read.

Threads: none of its own; a ReadBuffer belongs to the codec that owns it.
"""

from __future__ import annotations

__all__ = ["MIN_SPACE", "ReadBuffer"]

#: Fewest free bytes ``space()`` offers; below it the window moves to the front first.
MIN_SPACE = 16 * 1024


class ReadBuffer:
    """One reusable ``bytearray`` a stream reads into and a codec decodes from.

    Args:
        size: the array's size when it is (re)allocated, and the least it grows to.
        frames: how many frames of the awaited size the array grows to hold.
        limit: the most it grows to for that; a single larger frame still fits.

    Attributes:
        data: the array. Bytes ``data[start:end]`` are the window: read, not yet consumed.
            A codec reads them (indexing, slicing, ``memoryview``) and never writes them.
        start: the window's first byte.
        end: one past the window's last byte; the next read lands at ``data[end:]``.
    """

    __slots__ = ("_keep", "data", "end", "frames", "limit", "size", "start")

    def __init__(self, size: int = 64 * 1024, *, frames: int = 4,
                 limit: int = 512 * 1024) -> None:
        if not 0 < size <= limit or frames < 1:
            raise ValueError(f"need 0 < size <= limit and frames >= 1, got {size}, {frames}, "
                             f"{limit}")
        self.size = size
        self.frames = frames
        self.limit = limit
        self.data = bytearray()
        self.start = 0
        self.end = 0
        #: the last read was a stream's (not small): keep the array when the window empties
        self._keep = False

    def __len__(self) -> int:
        """Bytes in the window."""
        return self.end - self.start

    @property
    def capacity(self) -> int:
        """The array's current size (0 when it has been dropped)."""
        return len(self.data)

    def space(self, need: int = 0) -> memoryview:
        """Writable room for the next read, at ``data[end:]``; see the module docstring.

        Args:
            need: the whole size of the frame the codec waits for (its part already in
                the window included), or 0 if it does not know yet.
        """
        data = self.data
        end = self.end
        window = end - self.start
        room = MIN_SPACE
        if need > window:
            # the rest of the frame, but at most the limit per read: a peer announcing a
            # huge frame makes us grow as its bytes arrive, not allocate what it announced
            room = max(room, min(need - window, self.limit))
        if len(data) - end < room:
            self._make_room(room, need)
            data = self.data
            end = self.end
        return memoryview(data)[end:]

    def filled(self, nbytes: int) -> None:
        """A read wrote ``nbytes`` into the last :meth:`space`."""
        self.end += nbytes
        self._keep = nbytes >= MIN_SPACE

    def append(self, chunk: bytes | bytearray | memoryview) -> None:
        """Copy ``chunk`` to the end of the window (for a codec fed chunk by chunk)."""
        size = len(chunk)
        if len(self.data) - self.end < size:
            # room for the window again too: a large frame fed in many chunks then doubles
            # the array a few times instead of copying all it holds once per chunk
            self._make_room(max(size, self.end - self.start), 0)
        end = self.end
        self.data[end:end + size] = chunk
        self.end = end + size
        self._keep = False

    def consume(self, nbytes: int) -> None:
        """The codec decoded the first ``nbytes`` of the window: forget them.

        An emptied window starts again at the front, and its array is dropped if the last
        read was small (see *Quiet connections hold nothing*).
        """
        start = self.start + nbytes
        if start < self.end:
            self.start = start
            return
        self.start = self.end = 0
        if not self._keep or len(self.data) > self.limit:
            self.data = bytearray()

    def _make_room(self, room: int, need: int) -> None:
        window = self.end - self.start
        size = len(self.data)
        target = max(self.size, min(self.frames * need, self.limit))
        if window + room <= size and size >= target:
            if self.start:
                with memoryview(self.data) as view:  # memmove: the ranges may overlap
                    view[:window] = view[self.start:self.end]
        else:
            # Grow fourfold (up to what the frame in progress needs): a frame far larger
            # than the limit then costs O(n) in copies as it grows (a third of its size),
            # not O(n**2), and never more than four times what has arrived.
            grown = bytearray(max(target, window + room, min(4 * size, need + MIN_SPACE)))
            if window:
                grown[:window] = memoryview(self.data)[self.start:self.end]
            self.data = grown
        self.start = 0
        self.end = window
