"""The same kernel with numexpr evaluating the expression. Usage: numexpr_quadratic.py N"""
import sys

import numexpr as ne
import numpy as np

N = int(sys.argv[1])
a = np.random.uniform(5, 10, N)
b = np.random.uniform(10, 20, N)
c = np.random.uniform(-0.1, 0.1, N)
print(ne.evaluate("(-b + sqrt(b**2 - 4*a*c)) / (2*a)").mean())
