from xinyidai.cli import main

main()
