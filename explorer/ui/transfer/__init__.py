"""The Transfer learning page: backbone and task choices (page), examples from uploads or the
camera (examples), Train / Compare, the live comparison and downloads (results)."""
