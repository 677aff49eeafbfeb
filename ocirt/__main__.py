from ocirt.cli import main

main()
