"""The tutorial's numpy code for the quadratic-formula kernel. Usage: numpy_quadratic.py N"""
import sys

import numpy as np

N = int(sys.argv[1])
a = np.random.uniform(5, 10, N)
b = np.random.uniform(10, 20, N)
c = np.random.uniform(-0.1, 0.1, N)
root = (-b + np.sqrt(b**2 - 4 * a * c)) / (2 * a)
print(root.mean())
