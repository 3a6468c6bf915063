"""The in-sandbox runtime of Vivarium: a persistent namespace speaking the kernel protocol."""
