"""The check pipeline: which windows are due, the suite of checks over one window, and the
runner that stores a run, its alerts and its report in one go.
"""
