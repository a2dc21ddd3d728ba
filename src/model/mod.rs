//! Models: the dense LLaMA-style baseline and Leviathan, with parameter and FLOP accounting.
