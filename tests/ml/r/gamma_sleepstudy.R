# Reference for tests/ml/test_count_families.py: Gamma (log link) GLMM by glmmTMB (Laplace).
# Rscript tests/ml/r/gamma_sleepstudy.R  (glmmTMB 1.1.5, lme4's sleepstudy)
library(glmmTMB)
data(sleepstudy, package = "lme4")
fit <- glmmTMB(Reaction ~ Days + (1 + Days | Subject), family = Gamma(link = "log"), data = sleepstudy)
s <- summary(fit)
vc <- VarCorr(fit)$cond$Subject
out <- list(
  loglik = as.numeric(logLik(fit)),
  beta = fixef(fit)$cond,
  se = sqrt(diag(vcov(fit)$cond)),
  sd = attr(vc, "stddev"),
  corr = attr(vc, "correlation")[1, 2],
  sigma = sigma(fit),          # glmmTMB's Gamma sigma: 1/sqrt(shape), the coefficient of variation
  shape = 1 / sigma(fit)^2
)
cat(jsonlite::toJSON(out, digits = 12, auto_unbox = TRUE))
