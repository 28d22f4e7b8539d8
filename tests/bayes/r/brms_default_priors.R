# brms's default priors on the seed's epilepsy model (Poisson and NB2, log link, offset) and on
# amenorrhea (Bernoulli, logit), for tests/bayes/test_priors.py::test_brms_set_is_brms_own_defaults.
# Run: Rscript tests/bayes/r/brms_default_priors.R  (brms 2.18's get_prior: R code only, no Stan compilation)
suppressPackageStartupMessages(library(brms))
cat("brms", as.character(packageVersion("brms")), "\n")
data_dir <- Sys.getenv("BAYESGLMM_DATA", "../shared/data")
wide <- read.csv(file.path(data_dir, "epilepsy.csv"))
epi <- do.call(rbind, lapply(0:4, function(time) data.frame(
  id = wide$id, trt = wide$trt, time = time, y = wide[[paste0("y", time)]], t = log(if (time == 0) 8 else 2))))
amen <- read.csv(file.path(data_dir, "amenorrhea.csv"))
amen <- amen[!is.na(amen$y), ]
show <- function(label, p) {
  p <- p[p$class %in% c("b", "Intercept", "sd", "cor", "shape", "sigma") & p$coef == "" & p$group == "", ]
  cat("==", label, "\n")
  print(as.data.frame(p)[, c("prior", "class")], row.names = FALSE)
}
show("epilepsy poisson", get_prior(y ~ time + trt + trt:time + offset(t) + (1 + time | id), data = epi, family = poisson()))
show("epilepsy negbinomial", get_prior(y ~ time + trt + trt:time + offset(t) + (1 + time | id), data = epi, family = negbinomial()))
amen$time2 <- amen$time^2
show("amenorrhea bernoulli", get_prior(y ~ time + time2 + trt:time + trt:time2 + (1 + time | id), data = amen, family = bernoulli()))
show("epilepsy counts as gaussian", get_prior(y ~ time + (1 | id), data = epi, family = gaussian()))
