"""pyzmq's ``zmq.log``: publish :mod:`logging` records on a PUB socket, and watch them.

:mod:`.handlers` has :class:`~zreactor.log.handlers.PUBHandler` (records out as
``[topic, text]`` messages) and ``TopicLogger``; ``python -m zreactor.log URL`` (or
``python -m zmq.log`` under ``install_as_zmq``) is the watcher that subscribes and prints them.
"""
