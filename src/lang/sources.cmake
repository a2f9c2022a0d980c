# Sources of the language core (lexer, parser, compiler, evaluator, queries, deployments).
set(TBR_LANG_SOURCES)
