"""The reactor layer: I/O threads, pollers, timers, mailboxes, engines.

It knows nothing of messaging. Someone who only wants "a reactor to write my protocol on"
uses this layer alone: subclass :class:`~zreactor.reactor.stream.StreamEngine`, hand it to
an :class:`~zreactor.reactor.pool.IOThreadPool`'s ``listen`` or ``connect``, and the rest is
done on the I/O threads. The pool (threads, placement, load and fd accounting) is the whole
runtime an engine needs; the messaging ``Context`` composes one.
"""
