"""What the tests share that is not a fixture: small runs, hand-made dataset files, NumPy
references of the blocks, a toy method, and the sharded-step script run in a child process."""
