# R RPostgreSQL (Debian r-cran-rpostgresql): list tables, run every case.
suppressMessages(library(RPostgreSQL))
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
lines <- readLines(file.path(here, "cases.json"))
drv <- dbDriver("PostgreSQL")
con <- dbConnect(drv, host = Sys.getenv("TRAIL_PG_HOST", "127.0.0.1"), port = as.integer(Sys.getenv("TRAIL_PG_PORT")),
                 user = Sys.getenv("TRAIL_PG_USER", "trail"), password = Sys.getenv("PGPASSWORD", ""), dbname = "trail")
failures <- 0
check <- function(name, got, expect) {
  if (identical(got, expect)) cat("ok   R", name, "\n") else {
    failures <<- failures + 1
    cat("FAIL R", name, ": got", paste(got, collapse = ","), "expected", paste(expect, collapse = ","), "\n")
  }
}
check("dbExistsTable", dbExistsTable(con, "events"), TRUE)
funnel <- dbGetQuery(con, "SELECT count(DISTINCT CASE WHEN event_type = 'Signup Started' THEN user_id END) AS started, count(DISTINCT CASE WHEN event_type = 'Signup Completed' THEN user_id END) AS completed FROM events")
check("funnel", as.character(unlist(funnel[1, ])), c("3", "2"))
per_user <- dbGetQuery(con, "SELECT user_id, count(*) AS n FROM events GROUP BY user_id ORDER BY user_id")
check("events_per_user", paste(per_user$user_id, per_user$n), c("u1 3", "u2 2", "u3 1", "u4 2"))
typed <- dbGetQuery(con, "SELECT i4, t, n FROM typed WHERE i4 = 4")
check("types", c(as.character(typed$i4), typed$t, as.character(typed$n)), c("4", "hello", "123.45"))
dbDisconnect(con)
quit(status = if (failures == 0) 0 else 1)
