# Sources of the standard library; src/CMakeLists.txt adds them to the runtime.
set(TBR_STDLIB_SOURCES)
