"""Thin shim: all metadata lives in setup.cfg, but for one editable-install workaround.

setup.cfg ships ``zreactor_as_zmq.pth`` (the ``ZREACTOR_AS_ZMQ=1`` start-up hook) as a data
file that lands in site-packages. A normal install carries it. setuptools' ``editable_wheel``
installs data files only when the distribution answers ``has_data()``, a method its own
``Distribution`` does not define (it has ``has_data_files()``), so ``pip install -e .`` would
silently leave the hook out; answering ``has_data`` here makes both installs carry it.
"""
from setuptools import setup
from setuptools.dist import Distribution


class _Distribution(Distribution):
    def has_data(self) -> bool:
        return self.has_data_files()


setup(distclass=_Distribution)
