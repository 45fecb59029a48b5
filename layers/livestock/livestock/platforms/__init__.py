"""The platforms LiveStock keeps in step: request signing, push verification and one adapter each."""
