"""Pictures in and out: built-in photos and test patterns (pictures), uploads decoded safely
(files), synthetic shapes and letters (synthetic), the drawing pad's strokes (drawing), the Home
cards' pictures (gallery), heatmaps and colour scales as figures and arrays (plots).

May import: explorer.lecture, explorer.jobs (and libraries). Never streamlit.
"""
