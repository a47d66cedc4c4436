"""pyzmq's ``zmq.utils`` namespace, so ``from zmq.utils.monitor import ...`` ports by renaming."""
