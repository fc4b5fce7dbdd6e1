# R RPostgreSQL (Debian r-cran-rpostgresql): dbExistsTable, dbListTables, every case
# (the product document's funnel and engagement queries included), column types.
suppressMessages(library(RPostgreSQL))
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
drv <- dbDriver("PostgreSQL")
con <- dbConnect(drv, host = Sys.getenv("TRAIL_PG_HOST", "127.0.0.1"), port = as.integer(Sys.getenv("TRAIL_PG_PORT")),
                 user = Sys.getenv("TRAIL_PG_USER", "trail"), password = Sys.getenv("PGPASSWORD", ""), dbname = "trail")
failures <- 0
# Numbers compare by value: "50.0" and "50" agree.
norm <- function(x) sub("^(-?[0-9]+)\\.0+$", "\\1", x)
check <- function(name, got, expect) {
  if (identical(norm(got), norm(expect))) cat("ok   R", name, "\n") else {
    failures <<- failures + 1
    cat("FAIL R", name, ": got", paste(got, collapse = ","), "expected", paste(expect, collapse = ","), "\n")
  }
}
# JSON strings of a text (cases.json has one case per line; no JSON package needed).
strings <- function(text) {
  m <- regmatches(text, gregexpr('"((?:[^"\\\\]|\\\\.)*)"', text, perl = TRUE))[[1]]
  unescape <- function(s) gsub("\\\\(.)", "\\1", gsub("\\\\n", "\n", s))
  vapply(m, function(s) unescape(substr(s, 2, nchar(s) - 1)), "", USE.NAMES = FALSE)
}
field <- function(line, key) {
  at <- regexpr(paste0('"', key, '": '), line, fixed = TRUE)
  if (at < 0) return(NULL)
  substr(line, at + attr(at, "match.length"), nchar(line))
}
check("dbExistsTable", dbExistsTable(con, "events"), TRUE)
spec <- readLines(file.path(here, "cases.json"))
for (line in spec[grepl('^\\s*\\{"name": ', spec)]) {
  name <- strings(field(line, "name"))[1]
  sql <- strings(field(line, "sql"))[1]
  expect_part <- field(line, "expect")
  params_part <- field(line, "params")
  if (!is.null(params_part)) {
    params <- strings(sub("\\].*", "", params_part))
    for (i in rev(seq_along(params))) sql <- gsub(paste0("$", i), paste0("'", gsub("'", "''", params[i]), "'"), sql, fixed = TRUE)
  }
  expect <- strings(expect_part)
  got <- tryCatch({
    res <- dbGetQuery(con, sql)
    as.character(t(as.matrix(format(res, trim = TRUE, scientific = FALSE, drop0trailing = TRUE))))
  }, error = function(e) paste("error:", conditionMessage(e)))
  check(name, got, expect)
}
types <- dbGetQuery(con, "SELECT count(*) AS n, max(time) AS last, max(event_type) AS t FROM events")
check("types", c(class(types$n)[1], class(types$last)[1], class(types$t)[1]), c("numeric", "POSIXct", "character"))
invisible(dbDisconnect(con))
quit(status = if (failures == 0) 0 else 1)
