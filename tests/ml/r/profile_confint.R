# Profile-likelihood intervals by lme4 (Laplace), for tests/ml/test_profile.py.
#   Rscript tests/ml/r/profile_confint.R ../shared/data
# lme4 1.1 (Debian r-cran-lme4); confint(method = "profile") at level 0.95.
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
folder <- if (length(args)) args[1] else "../shared/data"

wide <- read.csv(file.path(folder, "epilepsy.csv"))
long <- do.call(rbind, lapply(0:4, function(k) data.frame(
  id = wide$id, trt = wide$trt, time = k, y = wide[[paste0("y", k)]], t = if (k == 0) log(8) else log(2))))
long <- long[order(long$id, long$time), ]
epi <- glmer(y ~ time + trt + trt:time + offset(t) + (1 + time | id), data = long, family = poisson,
             control = glmerControl(optimizer = "bobyqa"))
cat("epilepsy logLik", format(as.numeric(logLik(epi)), digits = 12), "\n")
print(confint(epi, method = "profile", oldNames = FALSE), digits = 10)

cbpp <- read.csv(file.path(folder, "cbpp.csv"))
cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)
cat("cbpp logLik", format(as.numeric(logLik(gm)), digits = 12), "\n")
print(confint(gm, method = "profile", oldNames = FALSE), digits = 10)

# An SD whose interval reaches 0 (tests/ml/test_profile.py, SMALL_SD_COUNTS): 20 groups of 5
small <- data.frame(g = factor(rep(0:19, each = 5)), x = rep(seq(-1, 1, length.out = 5), 20),
                    y = c(0, 5, 1, 5, 8, 3, 2, 0, 3, 3, 2, 4, 6, 1, 3, 1, 4, 1, 5, 3, 3, 0, 3, 3, 2, 6, 3, 2, 3, 3, 0, 2, 1, 2, 2, 2, 4, 2, 4, 0, 0, 2, 2, 3, 3, 4, 8, 6, 7, 7, 2, 3, 4, 3, 6, 3, 3, 3, 3, 0, 3, 2, 3, 6, 3, 2, 1, 4, 1, 5, 2, 2, 3, 2, 4, 3, 4, 2, 3, 1, 1, 4, 2, 3, 4, 3, 1, 4, 4, 3, 2, 1, 1, 3, 7, 0, 0, 4, 2, 3))
sm <- glmer(y ~ x + (1 | g), data = small, family = poisson)
cat("small-SD logLik", format(as.numeric(logLik(sm)), digits = 12), "\n")
print(confint(sm, method = "profile", oldNames = FALSE), digits = 10)
