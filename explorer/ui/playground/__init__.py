"""The Playground page's parts: the settings form (form), the run's controls and live view (run), the figures' panels (view)."""
