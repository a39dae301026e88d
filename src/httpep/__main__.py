from httpep.cli import run

run()
