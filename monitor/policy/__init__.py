"""The decision: from a window's check results to one action (recalibrate, retune the
threshold, retrain, investigate the data, or none) with its reasons. Pure: no I/O.
"""
