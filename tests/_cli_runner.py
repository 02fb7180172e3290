"Run a mu2llm console entry point as a script (used when the console scripts are not installed): NAME ARGS..."
import importlib, sys
name = sys.argv.pop(1)
sys.argv[0] = f'mu2llm_{name}'
sys.exit(getattr(importlib.import_module(f'mu2llm.{name}'), f'{name}_cli')())
