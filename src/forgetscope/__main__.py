from forgetscope.cli import main

main()
