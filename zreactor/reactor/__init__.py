"""The reactor layer: I/O threads, pollers, timers, mailboxes, engines.

It knows nothing of messaging. Someone who only wants "a reactor to write my protocol on"
uses this layer alone: subclass :class:`~zreactor.reactor.stream.StreamEngine`, hand it to
``Context.listen`` or ``Context.connect``, and the rest is done on the I/O threads.
"""
