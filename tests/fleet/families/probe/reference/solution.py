def answer():
    return 1.0
