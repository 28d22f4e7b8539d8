"""The model layer (DESIGN.md §7): what a model is, before any engine fits it — the formula, the
design, the response families and links, the model spec, data sets and simulation."""
