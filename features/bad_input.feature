@bad-input
Feature: Bad input is refused with a clear error, and nothing is lost
  Whatever a caller sends that the master cannot use is refused with an error
  that says what was wrong, and what was there before stays as it was.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 2 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests "web" of "hello"
    And the nodes converge within 10 minutes

  Scenario: A computer id with a space is refused
    When "alice" registers a computer "COMP 2" with 1 partition
    Then it fails as invalid input mentioning "computer id"

  Scenario: A computer registered twice is a conflict
    When "alice" registers a computer "COMP-1" with 1 partition
    Then it fails as a conflict mentioning "already registered"
    And 1 partition of "COMP-1" is free
    And "web" is reported started

  Scenario: A negative price is refused naming the resource
    When "alice" registers a computer "COMP-2" with 1 partition and:
      | price hosting | -1 |
    Then it fails as invalid input mentioning "hosting"

  Scenario: A partition state that does not exist is refused
    When computer "COMP-1" reports partition "slappart0" of "COMP-1" as "exploded"
    Then it fails as invalid input mentioning "exploded"
    And "web" is reported started

  Scenario: A report for a partition that does not exist is refused
    When computer "COMP-1" reports partition "slappart7" of "COMP-1" as "started"
    Then it fails as not found

  Scenario: A bad request leaves the existing instance untouched
    When "alice" requests "web" of "hello" with:
      | sla region | |
    Then it fails as invalid input mentioning "region"
    And "web" kept its guid and version
    And node "COMP-1" runs "web"

  Scenario: A bang of an instance that does not exist is refused
    When "alice" bangs "ghost"
    Then it fails as not found
    And "web" kept its guid and version
