import os
import sys

# tests import the shared optimizer table as a package
sys.path.insert(0, os.path.dirname(__file__))
