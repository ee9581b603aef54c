"""Teach: the walkthrough, explain, the handout, the diagram, and the comparison with the
document.
"""
