from lrtool.cli import main

main()
