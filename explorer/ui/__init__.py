"""The only part of the package that imports streamlit: widgets and state shared by every page
(state, widgets, presenter, heartbeat, image_picker, drawing_pad, cell_picker, home,
lecture_page, colour_filters, training_session, serve, server_app) and one folder per page that
needs several modules (convolution, training, transfer, networks)."""
