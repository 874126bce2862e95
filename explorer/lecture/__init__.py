"""The lecture itself: its reference numbers (reference) and its demos in order (demos).

Imports nothing of the app: every other room may read the lecture's numbers.
"""
