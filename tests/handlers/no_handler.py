def not_the_handler(request):
    return "never called"
