"""The layer that runs things: the papermill runner and its profiles, the command line, the notebooks' setup,
benchmarks and the real-music yardstick.
"""
