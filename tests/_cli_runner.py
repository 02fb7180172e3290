"Run a mu2llm console command as a script (used when the console scripts are not installed): NAME ARGS..."
from mu2llm.cli.commands import main

if __name__ == '__main__': main()
