# Sources of the extractors; src/CMakeLists.txt adds them to the runtime.
set(TBR_EXTRACT_SOURCES)
