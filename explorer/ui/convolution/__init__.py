"""The Convolution and CNN layers pages' panels: the page's tabs (panels), the kernel editor and
its paint-the-grid component (kernel_editor, kernel_paint), the CNN layers page (layers)."""
