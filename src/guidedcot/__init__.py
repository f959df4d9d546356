"""guidedcot: LM-Guided Chain-of-Thought, a small student LM writes rationales for a frozen reader LM."""

__version__ = "0.1.0"
