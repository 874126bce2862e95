"""The Train page: data, model and training panels (setup), Start / Pause / Stop / Leave and the
live view (run), one run drawn from its snapshot (view), the schedule and activation preview
(preview), the table of runs and downloads (runs), the lecture's ablation (ablation). The tab's
identity and the job registry it uses are in explorer.ui.training_session (every page's jobs)."""
