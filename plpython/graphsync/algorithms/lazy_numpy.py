"""NumPy, imported the first time code uses it: ``from graphsync.algorithms.lazy_numpy import np``.

``import numpy`` costs a new backend some 170-215 ms of CPU on the 2-core machine of
the benchmarks, idle (README, The first read in a new connection), more than the
whole of a small read. Every graphsync
module takes NumPy from here, so importing the package imports no NumPy: the common
first read (a traversal or an unweighted path of a few levels over the mapped base
file, the graph at rest) reads the base's arrays through memoryviews and never
touches ``np``; the reads that work on whole arrays (large frontiers, components,
weighted paths, exports, folding pending rows) import NumPy on their first ``np.``.
``np.anything`` then costs what a module attribute costs: the first use copies
NumPy's namespace into this object. tests/test_first_read.py checks which reads
leave NumPy out of sys.modules.
"""


class _OnUse:
    """Stands for the numpy module until something asks it for an attribute."""

    def __getattr__(self, name):
        import numpy

        self.__dict__.update(numpy.__dict__)
        return getattr(numpy, name)

    def __repr__(self):
        return "<numpy, imported on use>"


np = _OnUse()
