"""What the engines share (DESIGN.md §7): pieces used by the ML, Bayesian and GEE engines alike."""
