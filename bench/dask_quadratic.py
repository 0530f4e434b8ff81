"""The same kernel with dask.array, default chunks, threaded scheduler. Usage: dask_quadratic.py N"""
import sys

import dask
import dask.array as da

N = int(sys.argv[1])
a = da.random.uniform(5, 10, N)
b = da.random.uniform(10, 20, N)
c = da.random.uniform(-0.1, 0.1, N)
root = (-b + da.sqrt(b**2 - 4 * a * c)) / (2 * a)
with dask.config.set(scheduler="threads"):
    print(root.mean().compute())
