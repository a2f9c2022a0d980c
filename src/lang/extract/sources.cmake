# Sources of the extractors; src/CMakeLists.txt adds them to the runtime.
set(TBR_EXTRACT_SOURCES
  extract.c
  re.c
  glob.c
  json.c
  kv.c
  dissect.c
  cidr.c
  grok.c
  grok_patterns.c
)
